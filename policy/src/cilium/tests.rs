// Parser tests are being written.
