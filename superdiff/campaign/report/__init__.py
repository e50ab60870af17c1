"""Campaign aggregation and reporting: shard tables -> campaign tables -> figures -> one self-contained HTML page."""
