"""A usage API of any common shape, declared in config (dlt rest_api's vocabulary): settings,
paginators, pure transforms, error answers and the resources as streams."""
