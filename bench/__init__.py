"""upsync benchmarks: each module measures one target and records its figures in RESULTS.md."""
