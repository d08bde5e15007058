package io.hna.cloudos.fleet;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * GET /health: 200 {"status":"ok","version":...} when the application is up; it does not depend on
 * MariaDB or Redis, so a database outage does not take every version out of the load balancers.
 * GET /health?deep=1 also checks both (503 when one fails). A build made to fail (version 3 of the
 * demo) answers 500 either way.
 */
public final class HealthServlet extends HttpServlet {

    private static final long serialVersionUID = 1L;

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        App app = App.get();
        if (!app.healthy) {
            Json.send(resp, 500, Json.object("status", "failing", "version", app.version,
                    "reason", "this build fails its health check on purpose (the demo's broken release)"));
            return;
        }
        String deep = req.getParameter("deep");
        if (deep == null || deep.isEmpty() || "0".equals(deep) || "false".equals(deep)) {
            Json.send(resp, 200, Json.object("status", "ok", "version", app.version));
            return;
        }
        String database = checkDatabase(app.settings);
        String redis = checkRedis(app.settings);
        boolean ok = "ok".equals(database) && "ok".equals(redis);
        Map<String, Object> body = Json.object("status", ok ? "ok" : "degraded", "version", app.version,
                "database", database, "redis", redis);
        Json.send(resp, ok ? 200 : 503, body);
    }

    private static String checkDatabase(Settings s) {
        try (Connection conn = Database.connect(s); Statement st = conn.createStatement()) {
            st.execute("SELECT 1");
            return "ok";
        } catch (SQLException | IOException e) {
            return "failed: " + Json.reason(e);
        }
    }

    private static String checkRedis(Settings s) {
        String problem = s.redisProblem();
        if (problem != null) {
            return "failed: " + problem;
        }
        try (Redis redis = new Redis(s.redisHost, s.redisPort)) {
            redis.ping();
            return "ok";
        } catch (IOException e) {
            return "failed: " + Json.reason(e);
        }
    }
}
