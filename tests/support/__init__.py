"""What the tests share: courses, servers, browsers, hubs, identity providers, the CLI invoker."""
