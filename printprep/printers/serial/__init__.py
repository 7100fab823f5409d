"""The serial G-code host, one file per layer: ``transport`` (the port), ``lines`` (line
numbers, checksums, send window, resend history), ``regexes`` + ``parser`` (firmware
replies), ``printer`` (state, the reader thread, :class:`SerialPrinter`)."""
