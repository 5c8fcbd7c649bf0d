#!/usr/bin/env bash
# Regenerates voiceadapters/_data/speech_16k.wav, the short speech sample the
# demo streams. Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox).
# The text is ours; espeak-ng's output is not subject to its GPL licence.
set -euo pipefail
out="$(dirname "$0")/../voiceadapters/_data/speech_16k.wav"
tmp="$(mktemp --suffix=.wav)"
espeak-ng -v en-us -s 165 -w "$tmp" "Could you book a table for two at seven tonight?"
# 16 kHz mono signed 16-bit, peak-normalised to -3 dBFS, 200 ms of silence at each end.
sox "$tmp" -r 16000 -c 1 -b 16 -e signed-integer "$out" norm -3 pad 0.2 0.2
rm -f "$tmp"
soxi "$out"
