"""The serial G-code host, one file per layer: ``transport`` (the port), ``lines`` (line
numbers, checksums, send window, resend history), ``regexes`` + ``parser`` (firmware
replies), ``gcode`` (reading a G-code file), ``recovery`` (fatal errors, firmware restarts, lost
and regained links), ``printer`` (state, the reader thread, :class:`SerialPrinter`)."""
