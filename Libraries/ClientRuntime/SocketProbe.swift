#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Non-blocking check of an idle client socket.
public enum SocketProbe {
    /// True when the peer has closed `descriptor` (or it is invalid): the socket is readable and
    /// a peek reads end-of-file or an error. An idle connection has nothing legitimate to read, so
    /// this costs one `poll` and never blocks.
    public static func peerClosed(_ descriptor: Int32) -> Bool {
        guard descriptor >= 0 else { return true }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, 0)
        if ready < 0 { return true }
        if ready == 0 { return false }
        if entry.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return true }
        var byte: UInt8 = 0
        let received = recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return received <= 0
    }
}
