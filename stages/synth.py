"""DVC stage `synth`: generate the embedded synthetic benchmark (params.yaml → synth)."""

from stages.common import main

if __name__ == "__main__":
    main("synth")
