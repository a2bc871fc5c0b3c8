"""All reads the console and the services need, one module per concern; each read is a bounded
number of queries whatever the history size."""
