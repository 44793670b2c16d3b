"""The console's pages, one module per part of it; each handler takes a Visit (and the path's
names) and returns the response."""
