"""The ``songgen`` command line: ``cli`` parses and dispatches (before torch loads), each other module is one
command's arguments and run (``generate``, ``generate_many`` with the folder of songs it fills, ``edit``, ``data``,
``train``, ``codec``, ``convert``, ``evaluate``, ``info``)."""
