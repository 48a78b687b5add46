"""Helper package for the Keras HPC workshop.

Importing ``workbench`` is cheap: TensorFlow and matplotlib are imported only inside the
functions that need them, so the ``workbench`` command answers instantly on a login node.
Notebooks import the submodules they use::

    from workbench import data, checks, plots, training
"""

__version__ = "0.1.0"
