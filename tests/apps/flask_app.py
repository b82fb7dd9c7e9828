"""A tiny Flask app: `hurricane serve --app flask_app:app` (any WSGI callable works)."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask"


@app.post("/echo")
def echo():
    return request.get_data(), 200, {"Content-Type": "application/octet-stream"}


@app.get("/info")
def info():
    return jsonify(
        path=request.path,
        script_root=request.script_root,
        args=request.args.to_dict(),
        remote_addr=request.remote_addr,
    )
