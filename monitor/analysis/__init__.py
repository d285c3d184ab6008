"""Reconstruction from stored records: timelines, change points, incident reports and plots."""
