"""Voice gateway: AudioSocket, browser microphone, Vosk ASR and pyttsx3 TTS (see issue 5)."""
