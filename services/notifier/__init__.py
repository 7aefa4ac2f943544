"""The notifier (DESIGN §7): alerts in, templated minimal emails out, delivery tracked
attempt by attempt; return home interview tasks to the 72-hour limit."""
