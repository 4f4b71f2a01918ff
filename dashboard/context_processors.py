from dashboard.roles import role_flags


def roles(request):
    return {"roles": role_flags(request.user)}
