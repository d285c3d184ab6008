"""The configuration: where it comes from (file, environment), its syntax and its validation."""
