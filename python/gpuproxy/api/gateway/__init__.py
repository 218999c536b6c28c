"""HTTP routes of the inference gateway: OpenAI routes, prices, pools, monitoring, workers."""
