package io.hna.cloudos.fleet;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * GET /version: the version string and a newline, nothing else (also in X-App-Version). A build made
 * to fail (errors=N in app.properties) answers 500 to N of every 100 requests, evenly spread.
 */
public final class VersionServlet extends HttpServlet {

    private static final long serialVersionUID = 1L;

    private static final AtomicLong REQUESTS = new AtomicLong();

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        App app = App.get();
        resp.setContentType("text/plain");
        resp.setCharacterEncoding("UTF-8");
        long n = REQUESTS.getAndIncrement();
        if (app.errorPercent > 0 && (n * app.errorPercent) % 100 < app.errorPercent) {
            resp.setStatus(500);
            resp.getWriter().write("error on purpose (version " + app.version + ")\n");
            return;
        }
        resp.setStatus(200);
        resp.getWriter().write(app.version + "\n");
    }
}
