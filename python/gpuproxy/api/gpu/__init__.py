"""HTTP routes of GPUs: offers, rentals, load balancing, live events, the protocol proxy."""
