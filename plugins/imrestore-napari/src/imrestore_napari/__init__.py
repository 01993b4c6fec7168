"""imrestore in napari: a dock widget over imrestore's registry (restore the selected layer with any restorer, its
parameters as a form built from their declared types), and a reader that opens an output with its std map and report."""
from ._run import restore_array

__all__ = ["restore_array"]
