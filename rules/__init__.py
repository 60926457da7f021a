"""upsync's pure decision logic: values in, values out, ``now`` passed in; no I/O."""
