package io.hna.cloudos.fleet;

import java.io.IOException;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/** GET /hits: count this request in Redis (key fleet:hits) and return the count. */
public final class HitsServlet extends HttpServlet {

    private static final long serialVersionUID = 1L;
    static final String KEY = "fleet:hits";

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        App app = App.get();
        String problem = app.settings.redisProblem();
        if (problem != null) {
            Json.error(resp, 503, problem);
            return;
        }
        long hits;
        try (Redis redis = new Redis(app.settings.redisHost, app.settings.redisPort)) {
            hits = redis.incr(KEY);
        } catch (IOException e) {
            Json.error(resp, 503, "Redis at " + app.settings.redisHost + ":" + app.settings.redisPort
                    + " failed: " + Json.reason(e));
            return;
        }
        Json.send(resp, 200, Json.object("hits", hits, "version", app.version, "host", app.host));
    }
}
