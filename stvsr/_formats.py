"""File suffixes the package reads and writes, in one place (no heavy imports: the CLI parser uses them)."""

from __future__ import annotations

#: video containers read as inputs (anything PyAV decodes; these are recognised by their suffix)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".y4m")
#: frames of a folder clip
IMAGE_SUFFIXES = (".png",)
#: suffixes written as video files (a path without a suffix, or ``.png``, is a PNG folder)
OUTPUT_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi")
