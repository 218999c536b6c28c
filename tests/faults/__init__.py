"""The fault suite: real processes killed, stopped or hung in the middle of traffic."""
