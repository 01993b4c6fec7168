"""imrestore's built-in plugins.

They reach the core exactly as a third-party package does: through the
``imrestore`` entry-point group declared in the project's ``setup.cfg``.
"""
