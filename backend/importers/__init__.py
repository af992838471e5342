"""Readers for other tools' exports. Pure parsing: each turns a file into a plan that a service writes."""
