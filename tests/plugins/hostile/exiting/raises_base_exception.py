"""A plugin whose import raises a BaseException that is no Exception (and no Ctrl-C), so `except Exception`
misses it."""


class Abort(BaseException):
    pass


raise Abort("not today")
