"""Local emulators of a ComfyUI server and the PAI-EAS queue service (demo mode and tests)."""
