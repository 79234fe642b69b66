"""The staff web dashboard."""

from flask import Blueprint

blueprint = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")
