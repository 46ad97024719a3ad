"""Settings from the environment: the only reader of os.environ."""
