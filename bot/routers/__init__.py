"""One aiogram Router per bot feature; each module has `make_router()` (a fresh Router per
Dispatcher, because a Router attaches to one parent only). bot/app.py includes them in order."""
