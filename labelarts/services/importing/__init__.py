"""Data import: folders and object-store prefixes (with their annotation layouts) and ModelArts
manifests, streamed into samples. :mod:`labelarts.services.imports` starts and reports the tasks.

* :mod:`.sniff` - what a file is, by content; size caps;
* :mod:`.sources` - confined local paths and object keys, the folder walk, reading;
* :mod:`.layouts` - class folders, Pascal VOC, text-classification layouts;
* :mod:`.manifest` - manifest lines;
* :mod:`.report` - the counts and per-file failures of a task;
* :mod:`.runner` - the pipeline that ties them together and writes samples.
"""
