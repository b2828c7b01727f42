"""The Kokoro-82M v1.0 Mandarin voices (8 speakers, one model) behind the Voice protocol: see docs/kokoro.md."""
