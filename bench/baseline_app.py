"""The baseline for the cached-read benchmark: a bare Flask endpoint returning a
constant JSON body, served by gunicorn exactly like the real app."""
from flask import Flask, jsonify

app = Flask(__name__)
BODY = {"points": 1032, "level": "AA", "restricted": False}


@app.get("/v1/me/points")
def points():
    return jsonify(BODY)


@app.get("/v1/health")
def health():
    return jsonify({"status": "ok"})
