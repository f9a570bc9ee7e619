"""The public site, rendered to files: stories, feeds, CAP, EDXL-HAVE, the site renderer."""
