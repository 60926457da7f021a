"""upsync's pure decision logic: values in, values out, ``as_of`` passed in; no I/O."""
