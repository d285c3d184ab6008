#!/bin/sh
# Regenerates the spoken audio prompt shipped with the package (run once; the result is committed).
# 16 kHz, 16-bit signed little-endian, mono WAV: exactly what the Live API expects as input audio.
set -eu
out="$(dirname "$0")/../monitor/probe/prompts/question.wav"
tmp="$(mktemp --suffix=.wav)"
trap 'rm -f "$tmp"' EXIT
espeak-ng -v en-us -s 160 -w "$tmp" "What is the capital of France? Answer in one sentence."
sox "$tmp" -r 16000 -c 1 -b 16 -e signed-integer -L "$out"
echo "wrote $out"
