"""The queue: the job outbox (the durable truth), the Huey queues that ring its doorbells, pausing."""
