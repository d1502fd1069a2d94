import Hummingbird
import SensormineClients
import SensormineContracts
import SensormineCore

/// Meters the bytes of every answer QueryAPI sends a tenant as data egress, as they are written
/// (a streamed CSV export counts what actually went out).
struct EgressMeterMiddleware: RouterMiddleware {
    typealias Context = SensormineRequestContext
    let meter: UsageMeter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        guard let tenant = context.identity?.tenantID else { return response }
        let meter = self.meter
        response.body = response.body.map { buffer in
            meter.record(tenant, .dataEgress, Double(buffer.readableBytes))
            return buffer
        }
        return response
    }
}
