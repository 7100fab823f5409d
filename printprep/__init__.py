"""printprep: print preparation and printer control for lost-wax jewelry casting.

The package is split by what the code is about:

- ``printprep.mesh``     load, check, repair and measure meshes (the base stage)
- ``printprep.slicing``  printer profiles' layer images, archives and G-code
- ``printprep.casting``  orientation, supports, sprues and plate layout
- ``printprep.printers`` connectors that receive a finished file plus metadata
- ``printprep.service``  the job queue, workers, REST API and web page

Stages (mesh, slicing, casting) are plain functions over numpy arrays and dataclasses;
they never import ``printers`` or ``service``.
"""

__version__ = "0.1.0"
