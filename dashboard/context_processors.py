from dashboard.roles import role_flags


def roles(request):
    # Vendor callbacks skip the auth middleware (callback_handler.py), so an error page rendered for
    # one has no request.user; it shows the signed-out page, as Django's auth context processor does.
    return {"roles": role_flags(getattr(request, "user", None))}
