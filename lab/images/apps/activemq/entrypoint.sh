#!/bin/sh
# Runs activemq.jar in the foreground with the options Debian's /usr/bin/activemq passes (the
# instance directories, the module opens Java 17 needs), without its pid file, su and the fixed
# -Xms512M -Xmx512M of /usr/share/activemq/activemq-options. Arguments go to activemq.jar:
# "start xbean:activemq.xml" (default) runs the broker; "producer ..." / "consumer ..." are the
# command line clients.
set -eu
: "${ACTIVEMQ_HOME:=/usr/share/activemq}"
: "${ACTIVEMQ_BASE:=/var/lib/activemq/main}"
: "${ACTIVEMQ_CONF:=/etc/activemq/instances-enabled/main}"
: "${ACTIVEMQ_DATA:=$ACTIVEMQ_BASE/data}"
: "${ACTIVEMQ_TMP:=$ACTIVEMQ_BASE/tmp}"
: "${ACTIVEMQ_OPTS:=-Xms64M -Xmx512M}"
# shellcheck disable=SC2086 # ACTIVEMQ_OPTS is a list of options
exec java $ACTIVEMQ_OPTS \
    -Djava.awt.headless=true \
    -Djava.io.tmpdir="$ACTIVEMQ_TMP" \
    --add-reads=java.xml=java.logging \
    --add-opens java.base/java.security=ALL-UNNAMED \
    --add-opens java.base/java.net=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    --add-opens java.naming/javax.naming.spi=ALL-UNNAMED \
    --add-opens java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED \
    --add-opens java.base/java.util.concurrent=ALL-UNNAMED \
    --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED \
    --add-exports=java.base/sun.net.www.protocol.http=ALL-UNNAMED \
    --add-exports=java.base/sun.net.www.protocol.https=ALL-UNNAMED \
    --add-exports=java.base/sun.net.www.protocol.jar=ALL-UNNAMED \
    --add-exports=jdk.xml.dom/org.w3c.dom.html=ALL-UNNAMED \
    --add-exports=jdk.naming.rmi/com.sun.jndi.url.rmi=ALL-UNNAMED \
    -Dactivemq.classpath="$ACTIVEMQ_CONF" \
    -Dactivemq.home="$ACTIVEMQ_HOME" \
    -Dactivemq.base="$ACTIVEMQ_BASE" \
    -Dactivemq.conf="$ACTIVEMQ_CONF" \
    -Dactivemq.data="$ACTIVEMQ_DATA" \
    -jar "$ACTIVEMQ_HOME/bin/activemq.jar" "$@"
