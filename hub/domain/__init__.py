"""The hub's pure domain floor (issue 18): rules of the social-housing field as plain typed
functions over plain data. No I/O here, except reading the versioned data files a rule is
defined by (the cotation grids); no Kafka, no database, no HTTP, no clock (dates are
arguments)."""
