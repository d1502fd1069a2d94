import CCurl
import ClientRuntime
import Curl
import Foundation
import SensormineAuth
import SensormineContracts

/// One message for a channel: the alerts of one group and transition.
struct NotificationMessage: Sendable {
    var kind: String
    var channel: NotificationChannel
    var items: [NotificationQueue.Claimed]

    /// Each alert's subject line and body, from its rule's templates (or the defaults).
    var rendered: [(summary: String, message: String)] {
        self.items.map { item in
            (AlertTemplates.render(item.rule?.summaryTemplate ?? "", fallback: AlertTemplates.defaultSummary, alert: item.alert, ruleName: item.rule?.name),
             AlertTemplates.render(item.rule?.messageTemplate ?? "", fallback: AlertTemplates.defaultMessage, alert: item.alert, ruleName: item.rule?.name))
        }
    }

    var subject: String {
        let first = self.rendered.first?.summary ?? "alert"
        let prefix = self.kind == "resolved" ? "RESOLVED: " : ""
        return prefix + first + (self.items.count > 1 ? " (+\(self.items.count - 1) more)" : "")
    }
}

/// What the SMTP channel sends through: `SENSORMINE_ALERTS_SMTP_*`.
struct SMTPSettings: Sendable {
    /// `smtp://host:port` (STARTTLS when the server offers it) or `smtps://host:port`.
    var url: String
    var from: String
    var username: String?
    var password: String?
    /// Refuse to send without TLS (STARTTLS required).
    var requireTLS: Bool
}

/// The SMS provider: a Twilio-style `Messages` endpoint under `baseURL`.
struct SMSSettings: Sendable {
    var baseURL: String
    var accountSID: String
    var authToken: String
    var from: String
}

/// Delivers messages over webhooks, SMTP and an SMS provider's HTTP API; reports each attempt's
/// outcome (status code or SMTP reply) instead of throwing.
struct NotificationSenders: Sendable {
    let http: HTTPClient
    let addressGuard: AddressGuard
    let smtp: SMTPSettings?
    let sms: SMSSettings?
    let timeout: Duration
    let blocking: BlockingExecutor

    /// The outcome of one delivery attempt.
    struct Outcome: Sendable {
        var delivered: Bool
        var detail: String
    }

    func send(_ message: NotificationMessage) async -> Outcome {
        switch message.channel.kind {
        case .webhook: await self.webhook(message)
        case .email: await self.email(message)
        case .sms: await self.sms(message)
        }
    }

    // MARK: Webhook

    private func webhook(_ message: NotificationMessage) async -> Outcome {
        guard let url = message.channel.url, let target = WebhookTarget.parse(url) else { return Outcome(delivered: false, detail: "the channel has no valid URL") }
        let guardrail = self.addressGuard
        let address: String
        do {
            address = try await self.blocking.run { try guardrail.address(for: target.host) }
        } catch {
            return Outcome(delivered: false, detail: "refused: \(error)")
        }
        let rendered = message.rendered
        let payload = AlertNotificationPayload(
            kind: message.kind, tenantId: message.channel.tenantId, channelId: message.channel.id, groupKey: message.items.first?.groupKey ?? "",
            alerts: zip(message.items, rendered).map { item, text in
                let alert = item.alert
                return .init(idempotencyKey: item.idempotencyKey, id: alert.id, state: alert.state.rawValue, severity: alert.severity, source: alert.source,
                             summary: text.summary, message: text.message, labels: alert.labels, values: alert.values, ruleId: alert.ruleId,
                             ruleName: item.rule?.name, deviceId: alert.deviceId, openedAt: alert.openedAt, resolvedAt: alert.resolvedAt,
                             acknowledged: alert.acknowledged, flapping: alert.flapping, triggerCount: alert.triggerCount)
            }, sentAt: Date())
        let body: [UInt8]
        do {
            body = Array(try ContractCoding.encoder().encode(payload))
        } catch {
            return Outcome(delivered: false, detail: "the payload could not be encoded: \(error)")
        }
        let timestamp = String(Int(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(method: "POST", url: url, headers: [
            ("Content-Type", "application/json"),
            ("User-Agent", "Sensormine-Alerts/1"),
            ("X-Sensormine-Timestamp", timestamp),
            ("X-Sensormine-Signature", "v1=" + WebhookSignature.hex(secret: message.channel.secret ?? "", timestamp: timestamp, body: body)),
            ("X-Sensormine-Idempotency-Key", message.items.map(\.idempotencyKey).sorted().first ?? ""),
        ], body: body, timeout: self.timeout)
        request.pinnedAddress = address
        do {
            let response = try await self.http.execute(request)
            let delivered = (200..<300).contains(response.status)
            return Outcome(delivered: delivered, detail: "HTTP \(response.status)")
        } catch {
            return Outcome(delivered: false, detail: "\(error)")
        }
    }

    // MARK: SMS

    private func sms(_ message: NotificationMessage) async -> Outcome {
        guard let settings = self.sms else { return Outcome(delivered: false, detail: "no SMS provider configured (SENSORMINE_ALERTS_SMS_BASE_URL)") }
        let text = String(message.subject.prefix(1_600))
        let base = settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL
        let url = "\(base)/2010-04-01/Accounts/\(Self.formEncode(settings.accountSID))/Messages.json"
        let credentials = Data("\(settings.accountSID):\(settings.authToken)".utf8).base64EncodedString()
        var replies: [String] = []
        for recipient in message.channel.recipients {
            let form = "To=\(Self.formEncode(recipient))&From=\(Self.formEncode(settings.from))&Body=\(Self.formEncode(text))"
            let request = HTTPClientRequest(method: "POST", url: url, headers: [
                ("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", "Basic \(credentials)"),
            ], body: Array(form.utf8), timeout: self.timeout)
            do {
                let response = try await self.http.execute(request)
                replies.append("HTTP \(response.status)")
                guard (200..<300).contains(response.status) else { return Outcome(delivered: false, detail: "\(recipient): HTTP \(response.status)") }
            } catch {
                return Outcome(delivered: false, detail: "\(recipient): \(error)")
            }
        }
        return Outcome(delivered: true, detail: replies.joined(separator: ", "))
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    // MARK: E-mail

    private func email(_ message: NotificationMessage) async -> Outcome {
        guard let settings = self.smtp else { return Outcome(delivered: false, detail: "no SMTP server configured (SENSORMINE_ALERTS_SMTP_URL)") }
        let rendered = message.rendered
        let text = rendered.map(\.message).joined(separator: "\n\n----\n\n")
        let html = "<html><body>" + rendered.map { "<h3>\(Self.escapeHTML($0.summary))</h3><pre>\(Self.escapeHTML($0.message))</pre>" }.joined(separator: "<hr>")
            + "</body></html>"
        let mail = MailMessage(from: settings.from, to: message.channel.recipients, subject: message.subject, text: text, html: html,
                               idempotencyKey: message.items.map(\.idempotencyKey).sorted().first ?? UUID().uuidString)
        let timeout = self.timeout
        do {
            return try await self.blocking.run { SMTPTransfer.send(mail, settings: settings, timeout: timeout) }
        } catch {
            return Outcome(delivered: false, detail: "\(error)")
        }
    }

    static func escapeHTML(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// A MIME message with plain-text and HTML alternatives.
struct MailMessage: Sendable {
    var from: String
    var to: [String]
    var subject: String
    var text: String
    var html: String
    var idempotencyKey: String

    /// RFC 5322 with CRLF line ends; the subject is an encoded word and both parts are base64,
    /// so nothing an alert carries can add a header.
    var bytes: [UInt8] {
        let boundary = "sensormine-\(UUID().lowercasedString)"
        func base64Lines(_ text: String) -> String {
            let encoded = Data(text.utf8).base64EncodedString()
            var lines: [Substring] = []
            var index = encoded.startIndex
            while index < encoded.endIndex {
                let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
                lines.append(encoded[index..<end])
                index = end
            }
            return lines.joined(separator: "\r\n")
        }
        let date = Date().formatted(Date.VerbatimFormatStyle(
            format: "\(weekday: .abbreviated), \(day: .twoDigits) \(month: .abbreviated) \(year: .defaultDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits) +0000",
            locale: Locale(identifier: "en_US_POSIX"), timeZone: .gmt, calendar: Calendar(identifier: .gregorian)))
        let messageID = self.idempotencyKey.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-:.".unicodeScalars.contains($0)) }
        let lines = [
            "From: \(self.from)",
            "To: \(self.to.joined(separator: ", "))",
            "Subject: =?UTF-8?B?\(Data(self.subject.utf8).base64EncodedString())?=",
            "Date: \(date)",
            "Message-ID: <\(String(String.UnicodeScalarView(messageID)))@sensormine>",
            "X-Sensormine-Idempotency-Key: \(String(String.UnicodeScalarView(messageID)))",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
            "",
            "--\(boundary)",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            base64Lines(self.text),
            "--\(boundary)",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            base64Lines(self.html),
            "--\(boundary)--",
            "",
        ]
        return Array(lines.joined(separator: "\r\n").utf8)
    }
}

/// One SMTP submission through libcurl's SMTP support (a blocking easy transfer: mail is rare
/// next to webhooks, and runs on the blocking executor).
enum SMTPTransfer {
    /// The upload's bytes and how far libcurl has read.
    private final class Upload {
        let bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    static func send(_ mail: MailMessage, settings: SMTPSettings, timeout: Duration) -> NotificationSenders.Outcome {
        guard let easy = curl_easy_init() else { return .init(delivered: false, detail: "curl_easy_init failed") }
        defer { curl_easy_cleanup(easy) }
        var recipients: UnsafeMutablePointer<curl_slist>?
        for recipient in mail.to { recipients = curl_slist_append(recipients, "<\(recipient)>") }
        defer { curl_slist_free_all(recipients) }
        let upload = Upload(mail.bytes)
        let context = Unmanaged.passRetained(upload)
        defer { context.release() }
        sm_curl_setopt_string(easy, CURLOPT_URL, settings.url)
        sm_curl_setopt_string(easy, CURLOPT_MAIL_FROM, "<\(settings.from)>")
        sm_curl_setopt_slist(easy, CURLOPT_MAIL_RCPT, recipients)
        sm_curl_setopt_long(easy, CURLOPT_USE_SSL, Int(settings.requireTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_TRY.rawValue))
        sm_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        sm_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(clamping: timeout.milliseconds))
        sm_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(clamping: min(timeout, .seconds(5)).milliseconds))
        if let username = settings.username { sm_curl_setopt_string(easy, CURLOPT_USERNAME, username) }
        if let password = settings.password { sm_curl_setopt_string(easy, CURLOPT_PASSWORD, password) }
        sm_curl_setopt_long(easy, CURLOPT_UPLOAD, 1)
        sm_curl_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(upload.bytes.count))
        sm_curl_setopt_read_function(easy) { buffer, size, count, context in
            guard let buffer, let context else { return Int(CURL_READFUNC_ABORT) }
            let upload = Unmanaged<Upload>.fromOpaque(context).takeUnretainedValue()
            let length = min(size * count, upload.bytes.count - upload.offset)
            upload.bytes.withUnsafeBufferPointer { source in
                if let base = source.baseAddress, length > 0 { buffer.withMemoryRebound(to: UInt8.self, capacity: length) { $0.update(from: base + upload.offset, count: length) } }
            }
            upload.offset += length
            return length
        }
        sm_curl_setopt_pointer(easy, CURLOPT_READDATA, context.toOpaque())
        let code = curl_easy_perform(easy)
        var reply = 0
        sm_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &reply)
        if code == CURLE_OK { return .init(delivered: true, detail: "SMTP \(reply)") }
        let reason = String(cString: curl_easy_strerror(code))
        return .init(delivered: false, detail: reply > 0 ? "SMTP \(reply): \(reason)" : reason)
    }
}
