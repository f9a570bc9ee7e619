"""What `./run` needs on a developer's machine (supervisor, private Redis); never imported by the product."""
