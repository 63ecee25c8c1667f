"""Django's Redis cache backend, with one Redis client per thread, holding one connection.

Django's client builds a new `redis.Redis` for every cache call, and redis-py's constructor
(which builds its table of response callbacks) costs more than the round trip of a cache
hit: on the license check it was about a tenth of the request. A pooled client then checks
a connection out of the pool and back for every command (a lock, a pid check and a poll of
the socket each way), about a third of a cache hit's client time. Here each thread keeps
one client per pool with a connection of its own (`single_connection_client`): a web
worker's threads and a task worker's process each hold one connection while they live,
and a thread that ends gives its connection back to the pool.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            # A forked process (a web or task worker) must not write to its parent's socket;
            # the pool itself starts afresh after a fork, the clients here are made anew.
            local.pid, local.clients = pid, {}
        client = local.clients.get(pool)
        if client is None:
            client = local.clients[pool] = self._client(
                connection_pool=pool, single_connection_client=True
            )
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def validate_key(self, key: str) -> None:
        # Django's check warns about keys memcached would refuse (length, spaces); Redis
        # takes any key, and scanning every key of every call showed on the license check.
        pass
