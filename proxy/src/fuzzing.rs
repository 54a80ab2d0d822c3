//! Entry points for the fuzz targets (`proxy/fuzz/`): the codecs that read bytes from outside,
//! each called as the data path calls it. Not for the data path itself.
